with

source as (
    {{ latest_per_key(source('sap', 'lfa1'), ['lifnr']) }}
),

renamed as (
    select
        lifnr as vendor_id,
        name1 as vendor_name,
        land1 as country_code,
        ort01 as city
    from source
)

select * from renamed
