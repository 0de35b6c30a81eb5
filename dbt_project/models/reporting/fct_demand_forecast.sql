{{
    config(post_hook=[
        "{{ pg_index(['material_id', 'plant_id', 'week_start']) }}",
        "{{ pg_index(['forecast_origin']) }}",
    ])
}}

-- Every forecast week of every vintage (planning.demand_forecast), the weeks still ahead
-- included: what BI plots as "the forecast" per material x plant, with its interval. Empty
-- until the first forecast vintage exists.
{%- set forecast_table = existing_relation(source('planning', 'demand_forecast')) %}

with

forecasts as (
    {{ typed_rows(forecast_table, [
        ['forecast_origin', 'date'],
        ['material_id', dbt.type_string()],
        ['plant_id', dbt.type_string()],
        ['week_start', 'date'],
        ['model', dbt.type_string()],
        ['forecast_qty', type_double()],
        ['forecast_lower', type_double()],
        ['forecast_upper', type_double()],
    ]) }}
),

latest as (
    select max(forecast_origin) as forecast_origin from forecasts
)

select
    forecasts.forecast_origin,
    forecasts.material_id,
    forecasts.plant_id,
    forecasts.week_start,
    cast(floor({{ dbt.datediff('forecasts.forecast_origin', 'forecasts.week_start', 'day') }}
        / 7.0) as {{ dbt.type_int() }}) + 1 as horizon_weeks,
    forecasts.model,
    forecasts.forecast_qty,
    forecasts.forecast_lower,
    forecasts.forecast_upper,
    forecasts.forecast_origin = latest.forecast_origin as is_latest_vintage
from forecasts
cross join latest
