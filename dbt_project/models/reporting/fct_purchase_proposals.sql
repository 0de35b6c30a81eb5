{{
    config(post_hook=[
        "{{ pg_index(['forecast_origin', 'plant_id']) }}",
        "{{ pg_index(['material_id', 'plant_id']) }}",
    ])
}}

-- Every proposed purchase-requisition line of every vintage (planning.replenishment_proposals)
-- under English names: what a buyer reviews before the SAP upload. Columns are found by SAP
-- or English name (MATNR or material_id, ...), as the planning code writes SAP fields. Empty
-- while the table does not exist.
{%- set proposal_table = existing_relation(source('planning', 'replenishment_proposals')) %}
{%- set double = type_double() %}
{%- set text = dbt.type_string() %}

with

proposals as (
    {{ typed_rows(proposal_table, [
        ['forecast_origin', 'date', ['forecast_origin']],
        ['requisition_item', text, ['bnfpo', 'requisition_item']],
        ['document_type', text, ['bsart', 'document_type']],
        ['material_id', text, ['matnr', 'material_id']],
        ['plant_id', text, ['werks', 'plant_id']],
        ['purchasing_org_id', text, ['ekorg', 'purchasing_org_id']],
        ['vendor_id', text, ['lifnr', 'vendor_id']],
        ['quantity', double, ['menge', 'quantity']],
        ['unit', text, ['meins', 'unit']],
        ['packs', double, ['packs']],
        ['price', double, ['preis', 'price']],
        ['order_value', double, ['order_value']],
        ['currency_code', text, ['waers', 'currency_code']],
        ['release_date', 'date', ['frgdt', 'release_date']],
        ['delivery_date', 'date', ['lfdat', 'delivery_date']],
    ]) }}
),

latest as (
    select max(forecast_origin) as forecast_origin from proposals
)

select
    proposals.*,
    proposals.forecast_origin = latest.forecast_origin as is_latest_vintage
from proposals
cross join latest
