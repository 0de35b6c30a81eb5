{{ config(tags=['partitioned']) }}  -- a view per SAP day: built with the daily partition that fills it
-- Partitioned by creation date, which never changes: it joins the dedup key.
with

source as (
    {{ latest_per_key(source('sap', 'vbap'), ['vbeln', 'posnr', 'erdat']) }}
),

renamed as (
    select
        vbeln as sales_order_id,
        posnr as sales_order_item,
        matnr as material_id,
        werks as plant_id,
        coalesce(kwmeng, 0) as order_qty,
        vrkme as sales_unit,
        netwr as net_value,
        waerk as currency_code,
        erdat as created_on
    from source
)

select * from renamed
