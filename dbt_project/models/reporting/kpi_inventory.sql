{{ config(post_hook="{{ pg_index(['plant_id', 'month_start']) }}") }}

-- Inventory health per material x plant x month.
-- - stock: average over the month's snapshots and at the month's last snapshot (month end);
-- - turns: value issued (601/261 net) over average stock value, annualised;
-- - days of supply: month-end stock over average daily demand of the var demand_lookback_days
--   days up to month end;
-- - obsolete: stock at month end with no goods issue in the last var obsolete_after_days days
--   (only judged once the series has that much history);
-- - excess: month-end stock above safety stock plus var excess_cover_days of average demand,
--   for stock that is not obsolete.
-- Sum the quantity and value columns before dividing when aggregating.
with

inventory as (
    select
        *,
        cast({{ dbt.date_trunc('month', 'snapshot_date') }} as date) as month_start
    from {{ ref('fct_inventory_daily') }}
),

history_start as (
    select material_id, plant_id, min(snapshot_date) as first_snapshot_date
    from inventory
    group by material_id, plant_id
),

monthly_stock as (
    select
        material_id,
        plant_id,
        month_start,
        count(*) as days_observed,
        max(snapshot_date) as month_end_date,
        avg(stock_qty) as avg_stock_qty,
        avg(stock_value) as avg_stock_value
    from inventory
    group by material_id, plant_id, month_start
),

month_end_stock as (
    select
        monthly_stock.*,
        inventory.stock_qty as end_stock_qty,
        inventory.stock_value as end_stock_value,
        inventory.unit_price as end_unit_price
    from monthly_stock
    inner join inventory
        on monthly_stock.material_id = inventory.material_id
        and monthly_stock.plant_id = inventory.plant_id
        and monthly_stock.month_end_date = inventory.snapshot_date
),

issues as (
    select material_id, plant_id, posting_date, issued_qty, issued_value
    from {{ ref('fct_goods_movements') }}
    where issued_qty <> 0
),

monthly_issues as (
    select
        material_id,
        plant_id,
        cast({{ dbt.date_trunc('month', 'posting_date') }} as date) as month_start,
        sum(issued_qty) as issued_qty,
        sum(issued_value) as issued_value
    from issues
    group by material_id, plant_id, cast({{ dbt.date_trunc('month', 'posting_date') }} as date)
),

last_issue as (
    select
        month_end_stock.material_id,
        month_end_stock.plant_id,
        month_end_stock.month_start,
        max(issues.posting_date) as last_issue_date
    from month_end_stock
    inner join issues
        on month_end_stock.material_id = issues.material_id
        and month_end_stock.plant_id = issues.plant_id
        and issues.posting_date <= month_end_stock.month_end_date
        and issues.issued_qty > 0
    group by month_end_stock.material_id, month_end_stock.plant_id, month_end_stock.month_start
),

trailing_demand as (
    select
        month_end_stock.material_id,
        month_end_stock.plant_id,
        month_end_stock.month_start,
        sum(demand.demand_qty) as demand_qty,
        count(*) as demand_days
    from month_end_stock
    inner join {{ ref('fct_demand_daily') }} as demand
        on month_end_stock.material_id = demand.material_id
        and month_end_stock.plant_id = demand.plant_id
        and demand.demand_date <= month_end_stock.month_end_date
        and demand.demand_date > {{ dbt.dateadd(
            'day', -var('demand_lookback_days'), 'month_end_stock.month_end_date') }}
    group by month_end_stock.material_id, month_end_stock.plant_id, month_end_stock.month_start
),

combined as (
    select
        month_end_stock.material_id,
        month_end_stock.plant_id,
        month_end_stock.month_start,
        month_end_stock.month_end_date,
        month_end_stock.days_observed,
        month_end_stock.avg_stock_qty,
        month_end_stock.avg_stock_value,
        month_end_stock.end_stock_qty,
        month_end_stock.end_stock_value,
        month_end_stock.end_unit_price,
        coalesce(monthly_issues.issued_qty, 0) as issued_qty,
        coalesce(monthly_issues.issued_value, 0) as issued_value,
        cast(trailing_demand.demand_qty as {{ type_double() }})
            / nullif(trailing_demand.demand_days, 0) as avg_daily_demand,
        coalesce(plant_materials.safety_stock_qty, 0) as safety_stock_qty,
        last_issue.last_issue_date,
        month_end_stock.end_stock_qty > 0
        and history_start.first_snapshot_date <= {{ dbt.dateadd(
            'day', -var('obsolete_after_days'), 'month_end_stock.month_end_date') }}
        and (
            last_issue.last_issue_date is null
            or last_issue.last_issue_date <= {{ dbt.dateadd(
                'day', -var('obsolete_after_days'), 'month_end_stock.month_end_date') }}
        ) as is_obsolete
    from month_end_stock
    inner join history_start
        on month_end_stock.material_id = history_start.material_id
        and month_end_stock.plant_id = history_start.plant_id
    left join monthly_issues
        on month_end_stock.material_id = monthly_issues.material_id
        and month_end_stock.plant_id = monthly_issues.plant_id
        and month_end_stock.month_start = monthly_issues.month_start
    left join last_issue
        on month_end_stock.material_id = last_issue.material_id
        and month_end_stock.plant_id = last_issue.plant_id
        and month_end_stock.month_start = last_issue.month_start
    left join trailing_demand
        on month_end_stock.material_id = trailing_demand.material_id
        and month_end_stock.plant_id = trailing_demand.plant_id
        and month_end_stock.month_start = trailing_demand.month_start
    left join {{ ref('dim_material_plant') }} as plant_materials
        on month_end_stock.material_id = plant_materials.material_id
        and month_end_stock.plant_id = plant_materials.plant_id
),

measured as (
    select
        *,
        issued_value / nullif(avg_stock_value, 0) * 365.0 / days_observed as inventory_turns,
        end_stock_qty / nullif(avg_daily_demand, 0) as days_of_supply,
        case when is_obsolete then end_stock_qty else 0 end as obsolete_qty,
        case
            when is_obsolete then 0
            else greatest(
                0,
                end_stock_qty - safety_stock_qty
                - coalesce(avg_daily_demand, 0) * {{ var('excess_cover_days') }}
            )
        end as excess_qty
    from combined
)

select
    *,
    obsolete_qty * end_unit_price as obsolete_value,
    excess_qty * end_unit_price as excess_value
from measured
