with

source as (
    {{ latest_per_key(source('sap', 'makt'), ['matnr', 'spras']) }}
),

renamed as (
    select
        matnr as material_id,
        spras as language_code,
        maktx as material_description
    from source
)

select * from renamed
