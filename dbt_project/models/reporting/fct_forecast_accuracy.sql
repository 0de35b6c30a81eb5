{{
    config(post_hook=[
        "{{ pg_index(['material_id', 'plant_id', 'week_start']) }}",
        "{{ pg_index(['forecast_origin']) }}",
    ])
}}

-- Every forecast week of every vintage (fct_demand_forecast) next to the actual demand of that
-- week (fct_demand_weekly), once the week is complete. A week with a stockout day is kept but
-- not evaluated: its demand was censored, so it would blame the forecast for lost sales.
-- Empty until the first forecast vintage exists.

with

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
        forecasts.horizon_weeks,
        forecasts.model,
        forecasts.forecast_qty,
        forecasts.forecast_lower,
        forecasts.forecast_upper,
        cast(actuals.demand_qty as {{ type_double() }}) as actual_qty,
        actuals.has_stockout,
        not actuals.has_stockout as is_evaluated
    from {{ ref('fct_demand_forecast') }} as forecasts
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
