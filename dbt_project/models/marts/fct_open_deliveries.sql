{{ config(post_hook="{{ pg_index(['plant_id', 'requested_delivery_date']) }}") }}

-- Sales order items still to be delivered, with the plant and customer coordinates and the
-- open weight: the input of delivery routing.
with

fulfilment as (
    select * from {{ ref('fct_sales_order_fulfilment') }}
    where open_qty > 0
),

customers as (
    select * from {{ ref('dim_customer') }}
),

plants as (
    select * from {{ ref('dim_plant') }}
),

materials as (
    select * from {{ ref('dim_material') }}
)

select
    fulfilment.sales_order_id,
    fulfilment.sales_order_item,
    fulfilment.material_id,
    fulfilment.plant_id,
    fulfilment.customer_id,
    fulfilment.order_date,
    fulfilment.requested_delivery_date,
    fulfilment.order_qty,
    fulfilment.delivered_qty,
    fulfilment.open_qty,
    fulfilment.open_qty * materials.gross_weight as open_gross_weight,
    materials.weight_unit,
    customers.latitude as customer_latitude,
    customers.longitude as customer_longitude,
    plants.latitude as plant_latitude,
    plants.longitude as plant_longitude
from fulfilment
left join customers
    on fulfilment.customer_id = customers.customer_id
left join plants
    on fulfilment.plant_id = plants.plant_id
left join materials
    on fulfilment.material_id = materials.material_id
