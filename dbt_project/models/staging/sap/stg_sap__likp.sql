-- A view per SAP day: built with the daily partition that fills it.
{{ config(tags=['partitioned'], meta={'partition_column': 'created_on'}) }}
-- Partitioned by creation date, which never changes for a delivery: it joins the dedup key.
with

source as (
    {{ latest_per_key(source('sap', 'likp'), ['vbeln', 'erdat']) }}
),

renamed as (
    select
        vbeln as delivery_id,
        lfart as delivery_type,
        erdat as created_on,
        vstel as shipping_point_id,
        kunnr as ship_to_customer_id,
        lfdat as planned_delivery_date,
        wadat as planned_goods_issue_date,
        wadat_ist as actual_goods_issue_date,
        btgew as gross_weight,
        gewei as weight_unit
    from source
)

select * from renamed
