{#- 8-byte float on both engines. dbt.type_float() renders "float", which is a 4-byte REAL
    on DuckDB. -#}
{% macro type_double() -%}
    double precision
{%- endmacro %}
