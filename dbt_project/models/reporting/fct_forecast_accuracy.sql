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
