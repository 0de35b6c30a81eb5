-- A view per SAP day: built with the daily partition that fills it.
{{ config(tags=['partitioned'], meta={'partition_column': 'snapshot_date'}) }}
with

source as (
    {{ latest_per_key(source('sap', 'mard'), ['matnr', 'werks', 'lgort', 'datum']) }}
),

renamed as (
    select
        matnr as material_id,
        werks as plant_id,
        lgort as storage_location_id,
        datum as snapshot_date,
        coalesce(labst, 0) as unrestricted_qty,
        coalesce(insme, 0) as quality_inspection_qty,
        coalesce(speme, 0) as blocked_qty
    from source
)

select * from renamed
