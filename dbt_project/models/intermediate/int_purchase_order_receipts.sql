-- Goods receipts against purchase orders (EKBE, movement 101) that still stand. A reversal
-- (102) cancels a receipt of the same PO item and quantity posted on or before it, the latest
-- such receipt first, one receipt per reversal. (EKBE's reference document, which would pair
-- them exactly, is not in the extract.)
with

history as (
    select * from {{ ref('stg_sap__ekbe') }}
    where transaction_type = '1'
),

reversals as (
    select
        purchase_order_id,
        purchase_order_item,
        -quantity as quantity,
        count(*) as reversal_count,
        max(posting_date) as last_reversal_date
    from history
    where movement_type = '102'
    group by purchase_order_id, purchase_order_item, -quantity
),

candidates as (
    select
        history.*,
        reversals.reversal_count,
        coalesce(history.posting_date <= reversals.last_reversal_date, false)
            as can_be_reversed
    from history
    left join reversals
        on history.purchase_order_id = reversals.purchase_order_id
        and history.purchase_order_item = reversals.purchase_order_item
        and history.quantity = reversals.quantity
    where history.movement_type = '101'
      and history.quantity > 0
),

ranked as (
    select
        *,
        row_number() over (
            partition by purchase_order_id, purchase_order_item, quantity, can_be_reversed
            order by posting_date desc, material_document_year desc,
                material_document_id desc, material_document_item desc
        ) as reversal_rank
    from candidates
)

select
    purchase_order_id,
    purchase_order_item,
    material_document_year,
    material_document_id,
    material_document_item,
    posting_date,
    quantity,
    amount_local,
    material_id,
    plant_id
from ranked
where not can_be_reversed
   or reversal_rank > reversal_count
