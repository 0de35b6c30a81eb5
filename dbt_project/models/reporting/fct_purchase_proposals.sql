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
{%- set columns = [
    ['forecast_origin', ['forecast_origin'], 'date'],
    ['requisition_item', ['bnfpo', 'requisition_item'], text],
    ['document_type', ['bsart', 'document_type'], text],
    ['material_id', ['matnr', 'material_id'], text],
    ['plant_id', ['werks', 'plant_id'], text],
    ['purchasing_org_id', ['ekorg', 'purchasing_org_id'], text],
    ['vendor_id', ['lifnr', 'vendor_id'], text],
    ['quantity', ['menge', 'quantity'], double],
    ['unit', ['meins', 'unit'], text],
    ['packs', ['packs'], double],
    ['price', ['preis', 'price'], double],
    ['order_value', ['order_value'], double],
    ['currency_code', ['waers', 'currency_code'], text],
    ['release_date', ['frgdt', 'release_date'], 'date'],
    ['delivery_date', ['lfdat', 'delivery_date'], 'date'],
] %}

with

proposals as (
    select
    {%- for name, candidates, type in columns %}
        {{ column_or_null(column_named(proposal_table, candidates), type) }} as {{ name }}
        {{- "," if not loop.last }}
    {%- endfor %}
{%- if proposal_table is none %}
    where 1 = 0
{%- else %}
    from {{ proposal_table }}
{%- endif %}
),

latest as (
    select max(forecast_origin) as forecast_origin from proposals
)

select
    proposals.*,
    proposals.forecast_origin = latest.forecast_origin as is_latest_vintage
from proposals
cross join latest
