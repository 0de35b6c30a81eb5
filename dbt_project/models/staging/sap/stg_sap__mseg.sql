-- A view per SAP day: built with the daily partition that fills it.
{{ config(tags=['partitioned'], meta={'partition_column': 'posting_date'}) }}
-- Partitioned by posting date, which never changes: it joins the dedup key.
-- Quantities and amounts are signed by SHKZG (H issue: negative, S receipt: positive), so an
-- MB51-style extract (already signed) and SE16N's MSEG (unsigned, the direction only in
-- SHKZG) read the same. MENGE is in the base unit; the amount is shifted to its currency's
-- decimals (TCURX).
with

source as (
    {{ latest_per_key(source('sap', 'mseg'), ['mblnr', 'mjahr', 'zeile', 'budat_mkpf']) }}
),

renamed as (
    select
        source.mblnr as material_document_id,
        source.mjahr as material_document_year,
        source.zeile as material_document_item,
        source.bwart as movement_type,
        source.matnr as material_id,
        source.werks as plant_id,
        source.lgort as storage_location_id,
        coalesce({{ signed_by_shkzg('source.menge', 'source.shkzg') }}, 0) as quantity,
        source.meins as base_unit,
        source.shkzg as debit_credit_indicator,
        {{ sap_amount(signed_by_shkzg('source.dmbtr', 'source.shkzg'), 'currency') }}
            as amount_local,
        source.waers as currency_code,
        source.lifnr as vendor_id,
        source.kunnr as customer_id,
        source.ebeln as purchase_order_id,
        source.kdauf as sales_order_id,
        source.budat_mkpf as posting_date
    from source
    {{ currency_decimals_join('source.waers', 'currency') }}
)

select * from renamed
