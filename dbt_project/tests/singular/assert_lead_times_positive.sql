-- Lead times are whole days after the order date: every statistic must be positive.
select *
from {{ ref('fct_lead_times') }}
where min_lead_time_days <= 0
   or mean_lead_time_days <= 0
   or last_lead_time_days <= 0
   or observation_count < 1
