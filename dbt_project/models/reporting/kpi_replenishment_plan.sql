{{ config(post_hook="{{ pg_index(['forecast_origin', 'plant_id']) }}") }}

-- Purchase proposals (planning.replenishment_proposals) per vintage x plant x vendor x release
-- date: how many lines and materials, what value, when they arrive. Empty while the table
-- does not exist. Columns are found by SAP or English name (MATNR or material_id, ...), as
-- the planning code writes SAP purchase-requisition fields.
{%- set proposal_source = source('planning', 'replenishment_proposals') %}
{%- set proposal_table = existing_relation(proposal_source) %}
{%- set double = type_double() %}
{%- set text = dbt.type_string() %}

with

proposals as (
    select
        {{ column_or_null(column_named(proposal_table, ['forecast_origin']), 'date') }}
            as forecast_origin,
        {{ column_or_null(column_named(proposal_table, ['werks', 'plant_id']), text) }}
            as plant_id,
        {{ column_or_null(column_named(proposal_table, ['lifnr', 'vendor_id']), text) }}
            as vendor_id,
        {{ column_or_null(column_named(proposal_table, ['matnr', 'material_id']), text) }}
            as material_id,
        {{ column_or_null(column_named(proposal_table, ['frgdt', 'release_date']), 'date') }}
            as release_date,
        {{ column_or_null(column_named(proposal_table, ['lfdat', 'delivery_date']), 'date') }}
            as delivery_date,
        {{ column_or_null(column_named(proposal_table, ['order_value']), double) }}
            as order_value,
        {{ column_or_null(column_named(proposal_table, ['waers', 'currency_code']), text) }}
            as currency_code
{%- if proposal_table is none %}
    where 1 = 0
{%- else %}
    from {{ proposal_table }}
{%- endif %}
),

latest as (
    select max(forecast_origin) as forecast_origin from proposals
),

summary as (
    select
        forecast_origin,
        plant_id,
        vendor_id,
        release_date,
        currency_code,
        count(*) as proposal_lines,
        count(distinct material_id) as materials,
        sum(order_value) as order_value,
        min(delivery_date) as first_delivery_date,
        max(delivery_date) as last_delivery_date
    from proposals
    group by forecast_origin, plant_id, vendor_id, release_date, currency_code
)

select
    summary.*,
    summary.forecast_origin = latest.forecast_origin as is_latest_vintage
from summary
cross join latest
