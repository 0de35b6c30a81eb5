with

source as (
    {{ latest_per_key(source('sap', 'eine'), ['infnr', 'ekorg', 'werks']) }}
),

renamed as (
    select
        infnr as info_record_id,
        ekorg as purchasing_org_id,
        werks as plant_id,
        netpr as net_price,
        peinh as price_unit,
        waers as currency_code,
        aplfz as planned_delivery_days,
        minbm as min_order_qty,
        norbm as standard_order_qty
    from source
)

select * from renamed
