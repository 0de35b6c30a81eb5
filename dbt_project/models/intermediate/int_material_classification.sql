-- ABC by consumption value and XYZ by variability of weekly demand, per material (all plants).
-- ABC: materials ranked by the value of goods issues (deliveries 601 and consumption 261, net
-- of reversals) over the last 365 days; a material is A while the value ranked above it is
-- below var abc_a_share of the total, B below abc_b_share, else C (no consumption: C).
-- XYZ: coefficient of variation of complete, zero-filled weekly demand over the last 52 weeks;
-- X up to var xyz_x_cv, Y up to xyz_y_cv, else Z (no demand at all: Z; fewer than two
-- complete weeks: unclassified).
with

materials as (
    select material_id from {{ ref('stg_sap__mara') }}
),

movements as (
    select * from {{ ref('fct_goods_movements') }}
    where issued_qty <> 0
),

consumption_window as (
    select {{ dbt.dateadd('day', -365, 'max(posting_date)') }} as after_date
    from {{ ref('fct_goods_movements') }}
),

consumption as (
    select
        movements.material_id,
        sum(movements.issued_qty) as consumption_qty,
        sum(movements.issued_value) as consumption_value
    from movements
    cross join consumption_window
    where movements.posting_date > consumption_window.after_date
    group by movements.material_id
),

ranked as (
    select
        materials.material_id,
        coalesce(consumption.consumption_qty, 0) as consumption_qty,
        coalesce(consumption.consumption_value, 0) as consumption_value,
        coalesce(sum(coalesce(consumption.consumption_value, 0)) over (
            order by coalesce(consumption.consumption_value, 0) desc, materials.material_id
            rows between unbounded preceding and 1 preceding
        ), 0) as value_ranked_above,
        sum(coalesce(consumption.consumption_value, 0)) over () as total_value
    from materials
    left join consumption
        on materials.material_id = consumption.material_id
),

weekly as (
    select
        material_id,
        week_start,
        sum(demand_qty) as demand_qty
    from {{ ref('fct_demand_weekly') }}
    where is_complete_week
    group by material_id, week_start
),

weekly_window as (
    select {{ dbt.dateadd('day', -364, 'max(week_start)') }} as after_date
    from weekly
),

variability as (
    select
        weekly.material_id,
        count(*) as demand_weeks,
        avg(cast(weekly.demand_qty as {{ type_double() }})) as mean_weekly_demand,
        stddev_samp(cast(weekly.demand_qty as {{ type_double() }})) as stddev_weekly_demand
    from weekly
    cross join weekly_window
    where weekly.week_start > weekly_window.after_date
    group by weekly.material_id
),

classified as (
    select
        ranked.material_id,
        ranked.consumption_qty,
        ranked.consumption_value,
        case
            when ranked.consumption_value <= 0 then 'C'
            when ranked.value_ranked_above / ranked.total_value < {{ var('abc_a_share') }}
                then 'A'
            when ranked.value_ranked_above / ranked.total_value < {{ var('abc_b_share') }}
                then 'B'
            else 'C'
        end as abc_class,
        variability.demand_weeks,
        variability.mean_weekly_demand,
        variability.stddev_weekly_demand,
        variability.stddev_weekly_demand
            / nullif(variability.mean_weekly_demand, 0) as weekly_demand_cv
    from ranked
    left join variability
        on ranked.material_id = variability.material_id
)

select
    material_id,
    consumption_qty,
    consumption_value,
    abc_class,
    demand_weeks,
    mean_weekly_demand,
    stddev_weekly_demand,
    weekly_demand_cv,
    case
        when demand_weeks is null or demand_weeks < 2 then null
        when mean_weekly_demand = 0 then 'Z'
        when weekly_demand_cv <= {{ var('xyz_x_cv') }} then 'X'
        when weekly_demand_cv <= {{ var('xyz_y_cv') }} then 'Y'
        else 'Z'
    end as xyz_class
from classified
