select
    plant_id,
    plant_name,
    city,
    country_code,
    latitude,
    longitude
from {{ ref('stg_sap__t001w') }}
