-- A view per SAP day: built with the daily partition that fills it.
{{ config(tags=['partitioned'], meta={'partition_column': 'created_on'}) }}
-- Partitioned by creation date, which never changes: it joins the dedup key. The quantity is
-- converted from the sales unit to the material's base unit (MARM), the net value shifted to
-- its currency's decimals (TCURX).
with

source as (
    {{ latest_per_key(source('sap', 'vbap'), ['vbeln', 'posnr', 'erdat']) }}
),

renamed as (
    select
        source.vbeln as sales_order_id,
        source.posnr as sales_order_item,
        source.matnr as material_id,
        source.werks as plant_id,
        {{ to_base_unit('coalesce(source.kwmeng, 0)', 'source.vrkme', 'sales_unit') }}
            as order_qty,
        {{ base_unit_of('source.vrkme', 'sales_unit') }} as base_unit,
        coalesce(source.kwmeng, 0) as order_qty_sales_unit,
        source.vrkme as sales_unit,
        {{ sap_amount('source.netwr', 'currency') }} as net_value,
        source.waerk as currency_code,
        source.erdat as created_on,
        nullif(trim(source.abgru), '') as rejection_reason
    from source
    {{ unit_conversion_join('source.matnr', 'source.vrkme', 'sales_unit') }}
    {{ currency_decimals_join('source.waerk', 'currency') }}
)

select * from renamed
