-- The address (ADRC) of each customer (KNA1) and plant (T001W), found through the address
-- where-used list (ADRV, owner field ADRNR). The owner key is in SAP's internal form (KUNNR
-- with ALPHA zeros), as the customer and plant keys are.
with

owners as (
    select * from {{ ref('stg_sap__adrv') }}
    where owner_field = 'ADRNR'
      and owner_table in ('KNA1', 'T001W')
),

addresses as (
    select * from {{ ref('stg_sap__adrc') }}
)

select
    owners.owner_table,
    owners.owner_key,
    addresses.address_id,
    addresses.addressee_name,
    addresses.street,
    addresses.house_number,
    addresses.postal_code,
    addresses.city,
    addresses.country_code,
    addresses.time_zone,
    addresses.latitude,
    addresses.longitude
from owners
inner join addresses
    on owners.address_id = addresses.address_id
