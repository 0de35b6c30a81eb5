{{ config(post_hook="{{ pg_index(['plant_id', 'month_start']) }}") }}

-- Forecast accuracy per material x plant x month of the forecast week x horizon (weeks ahead
-- of the vintage), over evaluated weeks only (complete, no stockout; see fct_forecast_accuracy).
-- WAPE = sum |forecast - actual| / sum actual; bias = sum (forecast - actual) / sum actual
-- (positive = over-forecast). Sum the quantity and count columns before dividing when
-- aggregating.
with

compared as (
    select
        *,
        cast({{ dbt.date_trunc('month', 'week_start') }} as date) as month_start
    from {{ ref('fct_forecast_accuracy') }}
),

monthly as (
    select
        material_id,
        plant_id,
        month_start,
        horizon_weeks,
        count(distinct forecast_origin) as vintages,
        cast(sum(case when is_evaluated then 1 else 0 end) as {{ dbt.type_bigint() }})
            as evaluated_weeks,
        cast(sum(case when has_stockout then 1 else 0 end) as {{ dbt.type_bigint() }})
            as stockout_weeks,
        sum(case when is_evaluated then forecast_qty end) as forecast_qty,
        sum(case when is_evaluated then actual_qty end) as actual_qty,
        sum(abs_error) as abs_error,
        sum(error) as error,
        cast(sum(case when is_within_interval then 1 else 0 end) as {{ dbt.type_bigint() }})
            as within_interval_weeks
    from compared
    group by material_id, plant_id, month_start, horizon_weeks
)

select
    *,
    abs_error / nullif(actual_qty, 0) as wape,
    error / nullif(actual_qty, 0) as bias,
    abs_error / nullif(evaluated_weeks, 0) as mae,
    cast(within_interval_weeks as {{ type_double() }}) / nullif(evaluated_weeks, 0)
        as interval_coverage
from monthly
