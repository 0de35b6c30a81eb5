with

source as (
    {{ latest_per_key(source('sap', 'marc'), ['matnr', 'werks']) }}
),

renamed as (
    select
        matnr as material_id,
        werks as plant_id,
        dismm as mrp_type,
        plifz as planned_delivery_days,
        eisbe as safety_stock_qty,
        disls as lot_size_procedure,
        bstmi as min_lot_size_qty,
        bstrf as rounding_qty,
        mmsta as plant_material_status
    from source
)

select * from renamed
