-- Plants (T001W) with their address (ADRC via ADRV). The address master's coordinates win over
-- the ones in the plant extract.
with

plants as (
    select * from {{ ref('stg_sap__t001w') }}
),

addresses as (
    select * from {{ ref('int_owner_addresses') }}
    where owner_table = 'T001W'
)

select
    plants.plant_id,
    plants.plant_name,
    plants.city,
    plants.country_code,
    addresses.street,
    addresses.house_number,
    addresses.postal_code,
    addresses.time_zone,
    addresses.address_id,
    coalesce(addresses.latitude, plants.latitude) as latitude,
    coalesce(addresses.longitude, plants.longitude) as longitude
from plants
left join addresses
    on plants.plant_id = addresses.owner_key
