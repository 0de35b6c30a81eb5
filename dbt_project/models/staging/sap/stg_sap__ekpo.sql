-- A view per SAP day: built with the daily partition that fills it.
{{ config(tags=['partitioned'], meta={'partition_column': 'changed_on'}) }}
-- Partitioned by change date: a changed item arrives again in a later day's file, so the
-- version of the latest change date wins (then the latest delivery), whatever order the days
-- were loaded in. The quantity is converted from the order unit to the
-- material's base unit (MARM); base_qty_per_order_unit converts the item's schedule lines
-- (EKET) and history (EKBE), which are kept in the order unit. The net price is in the
-- header's currency (EKKO.WAERS), shifted to its decimals (TCURX).
with

source as (
    {{ latest_per_key(source('sap', 'ekpo'), ['ebeln', 'ebelp'], newest_by='aedat') }}
),

headers as (
    select purchase_order_id, currency_code from {{ ref('stg_sap__ekko') }}
),

renamed as (
    select
        source.ebeln as purchase_order_id,
        source.ebelp as purchase_order_item,
        source.matnr as material_id,
        source.werks as plant_id,
        {{ to_base_unit('source.menge', 'source.meins', 'order_unit') }} as ordered_qty,
        {{ base_unit_of('source.meins', 'order_unit') }} as base_unit,
        {{ to_base_unit('1', 'source.meins', 'order_unit') }} as base_qty_per_order_unit,
        source.menge as ordered_qty_order_unit,
        source.meins as order_unit,
        {{ sap_amount('source.netpr', 'currency') }} as net_price,
        source.peinh as price_unit,
        headers.currency_code,
        source.aedat as changed_on
    from source
    left join headers
        on source.ebeln = headers.purchase_order_id
    {{ unit_conversion_join('source.matnr', 'source.meins', 'order_unit') }}
    {{ currency_decimals_join('headers.currency_code', 'currency') }}
)

select * from renamed
