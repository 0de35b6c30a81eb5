-- A view per SAP day: built with the daily partition that fills it.
{{ config(tags=['partitioned'], meta={'partition_column': 'posting_date'}) }}
-- Partitioned by posting date, which never changes for a material document: it joins the
-- dedup key. Quantities are in the PO item's order unit (stg_sap__ekpo converts them); the
-- amount is shifted to its currency's decimals (TCURX).
with

source as (
    {{ latest_per_key(
        source('sap', 'ekbe'),
        ['ebeln', 'ebelp', 'vgabe', 'gjahr', 'belnr', 'buzei', 'budat']
    ) }}
),

renamed as (
    select
        source.ebeln as purchase_order_id,
        source.ebelp as purchase_order_item,
        source.vgabe as transaction_type,
        source.gjahr as material_document_year,
        source.belnr as material_document_id,
        source.buzei as material_document_item,
        source.bwart as movement_type,
        source.budat as posting_date,
        source.menge as quantity,
        {{ sap_amount('source.dmbtr', 'currency') }} as amount_local,
        source.waers as currency_code,
        source.matnr as material_id,
        source.werks as plant_id
    from source
    {{ currency_decimals_join('source.waers', 'currency') }}
)

select * from renamed
