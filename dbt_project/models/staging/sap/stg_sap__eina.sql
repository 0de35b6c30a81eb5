with

source as (
    {{ latest_per_key(source('sap', 'eina'), ['infnr']) }}
),

renamed as (
    select
        infnr as info_record_id,
        matnr as material_id,
        lifnr as vendor_id
    from source
)

select * from renamed
