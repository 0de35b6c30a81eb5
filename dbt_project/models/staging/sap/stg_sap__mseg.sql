{{ config(tags=['partitioned']) }}  -- a view per SAP day: built with the daily partition that fills it
-- Partitioned by posting date, which never changes: it joins the dedup key.
-- Quantities and amounts are already signed (MB51 style: issues negative).
with

source as (
    {{ latest_per_key(source('sap', 'mseg'), ['mblnr', 'mjahr', 'zeile', 'budat_mkpf']) }}
),

renamed as (
    select
        mblnr as material_document_id,
        mjahr as material_document_year,
        zeile as material_document_item,
        bwart as movement_type,
        matnr as material_id,
        werks as plant_id,
        lgort as storage_location_id,
        coalesce(menge, 0) as quantity,
        meins as base_unit,
        shkzg as debit_credit_indicator,
        dmbtr as amount_local,
        waers as currency_code,
        lifnr as vendor_id,
        kunnr as customer_id,
        ebeln as purchase_order_id,
        kdauf as sales_order_id,
        budat_mkpf as posting_date
    from source
)

select * from renamed
