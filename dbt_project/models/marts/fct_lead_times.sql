{{ config(post_hook="{{ pg_index(['material_id', 'plant_id']) }}") }}

-- Observed replenishment lead time per vendor x material x plant, in days from purchase order
-- date (EKKO.BEDAT) to goods receipt (EKBE.BUDAT). Only positive lead times count: a receipt
-- posted on (or before) the order date is a data-entry artefact, not a lead time.
with

observations as (
    select * from {{ ref('int_lead_time_observations') }}
    where lead_time_days > 0
),

ranked as (
    select
        *,
        row_number() over (
            partition by vendor_id, material_id, plant_id
            order by receipt_date desc, material_document_year desc,
                material_document_id desc, material_document_item desc
        ) as recency
    from observations
),

summary as (
    select
        vendor_id,
        material_id,
        plant_id,
        count(*) as observation_count,
        avg(cast(lead_time_days as {{ type_double() }})) as mean_lead_time_days,
        stddev_samp(cast(lead_time_days as {{ type_double() }})) as stddev_lead_time_days,
        min(lead_time_days) as min_lead_time_days,
        max(lead_time_days) as max_lead_time_days,
        min(receipt_date) as first_receipt_date
    from observations
    group by vendor_id, material_id, plant_id
)

select
    summary.*,
    ranked.lead_time_days as last_lead_time_days,
    ranked.receipt_date as last_receipt_date
from summary
inner join ranked
    on summary.vendor_id = ranked.vendor_id
    and summary.material_id = ranked.material_id
    and summary.plant_id = ranked.plant_id
    and ranked.recency = 1
