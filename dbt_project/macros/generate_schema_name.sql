{#- Use the configured schema name as is (staging, marts, ...), not "<target schema>_<name>":
    the warehouse schemas are a contract shared with ingestion, planning and BI. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
