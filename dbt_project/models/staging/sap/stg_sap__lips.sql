-- A view per SAP day: built with the daily partition that fills it.
{{ config(tags=['partitioned'], meta={'partition_column': 'created_on'}) }}
-- Partitioned by creation date, which never changes for a delivery item: it joins the dedup
-- key. Quantities are converted from the sales unit to the material's base unit (MARM).
with

source as (
    {{ latest_per_key(source('sap', 'lips'), ['vbeln', 'posnr', 'erdat']) }}
),

renamed as (
    select
        source.vbeln as delivery_id,
        source.posnr as delivery_item,
        source.matnr as material_id,
        source.werks as plant_id,
        source.lgort as storage_location_id,
        {{ to_base_unit('coalesce(source.lfimg, 0)', 'source.vrkme', 'sales_unit') }}
            as delivered_qty,
        {{ base_unit_of('source.meins', 'sales_unit') }} as base_unit,
        coalesce(source.lfimg, 0) as delivered_qty_sales_unit,
        source.vrkme as sales_unit,
        source.vgbel as sales_order_id,
        source.vgpos as sales_order_item,
        source.erdat as created_on
    from source
    {{ unit_conversion_join('source.matnr', 'source.vrkme', 'sales_unit') }}
)

select * from renamed
