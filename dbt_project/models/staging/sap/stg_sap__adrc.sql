with

source as (
    {{ latest_per_key(source('sap', 'adrc'), ['addrnumber']) }}
),

renamed as (
    select
        addrnumber as address_id,
        name1 as addressee_name,
        street,
        house_num1 as house_number,
        post_code1 as postal_code,
        city1 as city,
        country as country_code,
        time_zone,
        latitude,
        longitude
    from source
)

select * from renamed
