with

source as (
    {{ latest_per_key(source('sap', 'kna1'), ['kunnr']) }}
),

renamed as (
    select
        kunnr as customer_id,
        name1 as customer_name,
        land1 as country_code,
        ort01 as city,
        pstlz as postal_code,
        latitude,
        longitude
    from source
)

select * from renamed
