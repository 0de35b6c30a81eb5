{{ config(post_hook="{{ pg_index(['customer_id']) }}") }}

-- Customers (KNA1) with their address (ADRC via ADRV). The address master's coordinates win
-- over the ones in the customer extract.
with

customers as (
    select * from {{ ref('stg_sap__kna1') }}
),

addresses as (
    select * from {{ ref('int_owner_addresses') }}
    where owner_table = 'KNA1'
)

select
    customers.customer_id,
    customers.customer_name,
    customers.country_code,
    customers.city,
    customers.postal_code,
    addresses.street,
    addresses.house_number,
    addresses.time_zone,
    addresses.address_id,
    coalesce(addresses.latitude, customers.latitude) as latitude,
    coalesce(addresses.longitude, customers.longitude) as longitude
from customers
left join addresses
    on customers.customer_id = addresses.owner_key
