with

source as (
    {{ latest_per_key(source('sap', 't001w'), ['werks']) }}
),

renamed as (
    select
        werks as plant_id,
        name1 as plant_name,
        ort01 as city,
        land1 as country_code,
        latitude,
        longitude
    from source
)

select * from renamed
