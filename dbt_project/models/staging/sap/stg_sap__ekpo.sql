{{ config(tags=['partitioned']) }}  -- a view per SAP day: built with the daily partition that fills it
-- Partitioned by change date: a changed item arrives again in a later day's file, so the
-- latest delivery per PO item wins.
with

source as (
    {{ latest_per_key(source('sap', 'ekpo'), ['ebeln', 'ebelp']) }}
),

renamed as (
    select
        ebeln as purchase_order_id,
        ebelp as purchase_order_item,
        matnr as material_id,
        werks as plant_id,
        menge as ordered_qty,
        meins as order_unit,
        netpr as net_price,
        peinh as price_unit,
        aedat as changed_on
    from source
)

select * from renamed
