-- One observed replenishment lead time per standing goods receipt: days from the purchase
-- order date (EKKO.BEDAT) to the receipt's posting date (EKBE.BUDAT). Received quantity in
-- the base unit.
with

receipts as (
    select * from {{ ref('int_purchase_order_receipts') }}
),

orders as (
    select * from {{ ref('stg_sap__ekko') }}
),

order_items as (
    select * from {{ ref('stg_sap__ekpo') }}
),

observations as (
    select
        receipts.purchase_order_id,
        receipts.purchase_order_item,
        receipts.material_document_year,
        receipts.material_document_id,
        receipts.material_document_item,
        orders.vendor_id,
        coalesce(receipts.material_id, order_items.material_id) as material_id,
        coalesce(receipts.plant_id, order_items.plant_id) as plant_id,
        orders.order_date,
        receipts.posting_date as receipt_date,
        {{ dbt.datediff('orders.order_date', 'receipts.posting_date', 'day') }}
            as lead_time_days,
        receipts.quantity * coalesce(order_items.base_qty_per_order_unit, 1) as received_qty
    from receipts
    inner join orders
        on receipts.purchase_order_id = orders.purchase_order_id
    left join order_items
        on receipts.purchase_order_id = order_items.purchase_order_id
        and receipts.purchase_order_item = order_items.purchase_order_item
)

select * from observations
