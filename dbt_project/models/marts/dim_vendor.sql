select
    vendor_id,
    vendor_name,
    country_code,
    city
from {{ ref('stg_sap__lfa1') }}
