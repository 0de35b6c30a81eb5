{{
    config(post_hook=[
        "{{ pg_index(['requested_delivery_date']) }}",
        "{{ pg_index(['material_id', 'plant_id']) }}",
    ])
}}

-- Fulfilment per sales order item: goods issues (601 net of 602 reversals, linked by the sales
-- order on the material document) are allocated to the order's items of the same material and
-- plant in item order. On time = issued by the requested delivery date (VBAK.VDATU, else the
-- order date); OTIF = the full quantity issued on time. A rejected item (ABGRU) has nothing open:
-- the customer cancelled the rest.
with

lines as (
    select
        *,
        coalesce(requested_delivery_date, order_date) as due_date,
        coalesce(sum(order_qty) over (
            partition by sales_order_id, material_id, plant_id
            order by sales_order_item
            rows between unbounded preceding and 1 preceding
        ), 0) as qty_on_earlier_items
    from {{ ref('fct_sales_order_lines') }}
),

order_due_dates as (
    select
        sales_order_id,
        material_id,
        plant_id,
        min(due_date) as due_date
    from lines
    group by sales_order_id, material_id, plant_id
),

issues as (
    select
        movements.sales_order_id,
        movements.material_id,
        movements.plant_id,
        sum(movements.issued_qty) as issued_qty,
        sum(
            case when movements.posting_date <= order_due_dates.due_date
                then movements.issued_qty else 0 end
        ) as issued_on_time_qty,
        min(movements.posting_date) as first_issue_date,
        max(movements.posting_date) as last_issue_date
    from {{ ref('fct_goods_movements') }} as movements
    inner join order_due_dates
        on movements.sales_order_id = order_due_dates.sales_order_id
        and movements.material_id = order_due_dates.material_id
        and movements.plant_id = order_due_dates.plant_id
    where movements.movement_category = 'delivery'
    group by movements.sales_order_id, movements.material_id, movements.plant_id
),

allocated as (
    select
        lines.sales_order_id,
        lines.sales_order_item,
        lines.material_id,
        lines.plant_id,
        lines.customer_id,
        lines.order_date,
        lines.requested_delivery_date,
        lines.due_date,
        lines.order_qty,
        lines.rejection_reason,
        greatest(0, least(
            lines.order_qty, coalesce(issues.issued_qty, 0) - lines.qty_on_earlier_items
        )) as delivered_qty,
        greatest(0, least(
            lines.order_qty, coalesce(issues.issued_on_time_qty, 0) - lines.qty_on_earlier_items
        )) as delivered_on_time_qty,
        issues.first_issue_date,
        issues.last_issue_date
    from lines
    left join issues
        on lines.sales_order_id = issues.sales_order_id
        and lines.material_id = issues.material_id
        and lines.plant_id = issues.plant_id
)

select
    *,
    case when rejection_reason is null then order_qty - delivered_qty else 0 end as open_qty,
    delivered_qty >= order_qty as is_delivered_in_full,
    order_qty > 0 and delivered_on_time_qty >= order_qty as is_otif
from allocated
