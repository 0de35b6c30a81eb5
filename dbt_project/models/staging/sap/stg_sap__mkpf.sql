-- A view per SAP day: built with the daily partition that fills it.
{{ config(tags=['partitioned'], meta={'partition_column': 'posting_date'}) }}
-- Partitioned by posting date, which never changes: it joins the dedup key.
with

source as (
    {{ latest_per_key(source('sap', 'mkpf'), ['mblnr', 'mjahr', 'budat']) }}
),

renamed as (
    select
        mblnr as material_document_id,
        mjahr as material_document_year,
        budat as posting_date,
        bldat as document_date,
        vgart as transaction_type
    from source
)

select * from renamed
