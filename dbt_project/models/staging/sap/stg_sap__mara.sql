with

source as (
    {{ latest_per_key(source('sap', 'mara'), ['matnr']) }}
),

renamed as (
    select
        matnr as material_id,
        mtart as material_type,
        matkl as material_group,
        meins as base_unit,
        brgew as gross_weight,
        gewei as weight_unit,
        ersda as created_on,
        coalesce(lvorm, '') <> '' as is_flagged_for_deletion
    from source
)

select * from renamed
