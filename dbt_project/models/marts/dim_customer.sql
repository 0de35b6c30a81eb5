{{ config(post_hook="{{ pg_index(['customer_id']) }}") }}

select
    customer_id,
    customer_name,
    country_code,
    city,
    postal_code,
    latitude,
    longitude
from {{ ref('stg_sap__kna1') }}
