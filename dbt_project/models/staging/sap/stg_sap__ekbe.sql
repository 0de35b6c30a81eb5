{{ config(tags=['partitioned']) }}  -- a view per SAP day: built with the daily partition that fills it
-- Partitioned by posting date, which never changes for a material document: it joins the
-- dedup key.
with

source as (
    {{ latest_per_key(
        source('sap', 'ekbe'),
        ['ebeln', 'ebelp', 'vgabe', 'gjahr', 'belnr', 'buzei', 'budat']
    ) }}
),

renamed as (
    select
        ebeln as purchase_order_id,
        ebelp as purchase_order_item,
        vgabe as transaction_type,
        gjahr as material_document_year,
        belnr as material_document_id,
        buzei as material_document_item,
        bwart as movement_type,
        budat as posting_date,
        menge as quantity,
        dmbtr as amount_local,
        waers as currency_code,
        matnr as material_id,
        werks as plant_id
    from source
)

select * from renamed
