{#- The daily-partitioned Dagster asset passes --vars '{min_date: ..., max_date: ...}':
    ISO dates, start inclusive, end exclusive. Absent vars mean all history. A midnight time
    part (as from datetime.isoformat()) is accepted and dropped. -#}

{% macro iso_date_var(name) %}
    {%- set value = var(name, none) -%}
    {%- if value is none or (value | string | trim) == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set text = value | string | trim -%}
    {%- set match = modules.re.match(
        '^(\\d{4}-\\d{2}-\\d{2})([T ]00:00(:00(\\.0+)?)?(Z|[+-]00:?00)?)?$', text) -%}
    {%- if not match -%}
        {{ exceptions.raise_compiler_error(
            "dbt var " ~ name ~ " must be an ISO date YYYY-MM-DD (midnight), got '"
            ~ text ~ "'") }}
    {%- endif -%}
    {{ return(match.group(1)) }}
{% endmacro %}


{% macro partition_window() %}
    {%- set lo = iso_date_var('min_date') -%}
    {%- set hi = iso_date_var('max_date') -%}
    {%- if lo is not none and hi is not none and lo >= hi -%}
        {{ exceptions.raise_compiler_error(
            "dbt vars min_date (" ~ lo ~ ") must be before max_date (" ~ hi ~ ")") }}
    {%- endif -%}
    {{ return({'min_date': lo, 'max_date': hi}) }}
{% endmacro %}


{#- A boolean SQL condition restricting date_column to the partition window. -#}
{% macro in_partition_window(date_column) -%}
    {%- set window = partition_window() -%}
    {%- set conditions = [] -%}
    {%- if window.min_date is not none -%}
        {%- do conditions.append(date_column ~ " >= cast('" ~ window.min_date ~ "' as date)") -%}
    {%- endif -%}
    {%- if window.max_date is not none -%}
        {%- do conditions.append(date_column ~ " < cast('" ~ window.max_date ~ "' as date)") -%}
    {%- endif -%}
    {%- if conditions -%}
        ({{ conditions | join(' and ') }})
    {%- else -%}
        (1 = 1)
    {%- endif -%}
{%- endmacro %}


{#- pre_hook of the partitioned incremental models: empty the window before delete+insert,
    so rows that vanished from a re-delivered day vanish here too. It runs in the model's
    transaction, so a failed build leaves the old partition in place. -#}
{% macro delete_partition_window(date_column) -%}
    {%- set window = partition_window() -%}
    {%- if is_incremental() and (window.min_date is not none or window.max_date is not none) -%}
        delete from {{ this }} where {{ in_partition_window(date_column) }}
    {%- endif -%}
{%- endmacro %}
