-- The net price is shifted to its currency's decimals (TCURX).
with

source as (
    {{ latest_per_key(source('sap', 'eine'), ['infnr', 'ekorg', 'werks']) }}
),

renamed as (
    select
        source.infnr as info_record_id,
        source.ekorg as purchasing_org_id,
        source.werks as plant_id,
        {{ sap_amount('source.netpr', 'currency') }} as net_price,
        source.peinh as price_unit,
        source.waers as currency_code,
        source.aplfz as planned_delivery_days,
        source.minbm as min_order_qty,
        source.norbm as standard_order_qty
    from source
    {{ currency_decimals_join('source.waers', 'currency') }}
)

select * from renamed
