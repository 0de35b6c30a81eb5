{{
    config(post_hook=[
        "{{ pg_index(['material_id', 'plant_id', 'week_start']) }}",
        "{{ pg_index(['forecast_origin']) }}",
    ])
}}

-- Every forecast week of every vintage (planning.demand_forecast) next to the actual demand of
-- that week (fct_demand_weekly), once the week is complete. A week with a stockout day is
-- kept but not evaluated: its demand was censored, so it would blame the forecast for lost
-- sales. Empty until the first forecast vintage exists.
{%- set forecast_source = source('planning', 'demand_forecast') %}
{%- set forecast_table = existing_relation(forecast_source) %}

with

forecasts as (
{%- if forecast_table is none %}
    select
        cast(null as date) as forecast_origin,
        cast(null as {{ dbt.type_string() }}) as material_id,
        cast(null as {{ dbt.type_string() }}) as plant_id,
        cast(null as date) as week_start,
        cast(null as {{ dbt.type_string() }}) as model,
        cast(null as {{ type_double() }}) as forecast_qty,
        cast(null as {{ type_double() }}) as forecast_lower,
        cast(null as {{ type_double() }}) as forecast_upper
    where 1 = 0
{%- else %}
    select
        cast(forecast_origin as date) as forecast_origin,
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(plant_id as {{ dbt.type_string() }}) as plant_id,
        cast(week_start as date) as week_start,
        cast(model as {{ dbt.type_string() }}) as model,
        cast(forecast_qty as {{ type_double() }}) as forecast_qty,
        cast(forecast_lower as {{ type_double() }}) as forecast_lower,
        cast(forecast_upper as {{ type_double() }}) as forecast_upper
    from {{ forecast_table }}
{%- endif %}
),

actuals as (
    select material_id, plant_id, week_start, demand_qty, has_stockout
    from {{ ref('fct_demand_weekly') }}
    where is_complete_week
),

compared as (
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
        cast(actuals.demand_qty as {{ type_double() }}) as actual_qty,
        actuals.has_stockout,
        not actuals.has_stockout as is_evaluated
    from forecasts
    inner join actuals
        on forecasts.material_id = actuals.material_id
        and forecasts.plant_id = actuals.plant_id
        and forecasts.week_start = actuals.week_start
)

select
    *,
    case when is_evaluated then forecast_qty - actual_qty end as error,
    case when is_evaluated then abs(forecast_qty - actual_qty) end as abs_error,
    case
        when is_evaluated
            then actual_qty >= forecast_lower and actual_qty <= forecast_upper
    end as is_within_interval
from compared
