{{ config(post_hook="{{ pg_index(['forecast_origin', 'plant_id']) }}") }}

-- Purchase proposals (fct_purchase_proposals) per vintage x plant x vendor x release date:
-- how many lines and materials, what value, when they arrive.

select
    forecast_origin,
    plant_id,
    vendor_id,
    release_date,
    currency_code,
    count(*) as proposal_lines,
    count(distinct material_id) as materials,
    sum(order_value) as order_value,
    min(delivery_date) as first_delivery_date,
    max(delivery_date) as last_delivery_date,
    is_latest_vintage
from {{ ref('fct_purchase_proposals') }}
group by forecast_origin, plant_id, vendor_id, release_date, currency_code, is_latest_vintage
