{#- Quantities to the base unit (MARA.MEINS) via MARM, amounts to their currency's decimals via
    TCURX. Use the *_join macros once per FROM clause with an alias, then the value macros in
    the SELECT list with the same alias. -#}


{#- Joins the material's base unit (alias_material.base_unit) and the conversion of unit_column
    (alias.base_qty_per_unit: base units per one unit_column unit). -#}
{% macro unit_conversion_join(material_column, unit_column, alias) %}
    left join {{ ref('stg_sap__mara') }} as {{ alias }}_material
        on {{ alias }}_material.material_id = {{ material_column }}
    left join {{ ref('stg_sap__marm') }} as {{ alias }}
        on {{ alias }}.material_id = {{ material_column }}
        and {{ alias }}.unit = {{ unit_column }}
{% endmacro %}


{#- A quantity in the base unit. A missing or base unit keeps the quantity; an alternative unit
    without a MARM conversion gives null (tested as not null in staging, so it cannot pass
    unnoticed). -#}
{% macro to_base_unit(quantity, unit_column, alias) -%}
    case
        when coalesce({{ unit_column }}, '') = ''
            or {{ unit_column }} = {{ alias }}_material.base_unit
            then {{ quantity }}
        else {{ quantity }} * {{ alias }}.base_qty_per_unit
    end
{%- endmacro %}


{#- The base unit of the material, or unit_column's unit when the material is not in MARA. -#}
{% macro base_unit_of(unit_column, alias) -%}
    coalesce({{ alias }}_material.base_unit, {{ unit_column }})
{%- endmacro %}


{#- Joins the decimals of the currency in currency_column (alias.decimals; TCURX lists only
    currencies whose decimals are not two). -#}
{% macro currency_decimals_join(currency_column, alias) %}
    left join {{ ref('stg_sap__tcurx') }} as {{ alias }}
        on {{ alias }}.currency_code = {{ currency_column }}
{% endmacro %}


{#- SAP keeps every amount with two decimals in the database and shifts it for currencies with
    other decimals (JPY 1 000 is stored as 10.00, KWD 1.234 as 12.34). This is the amount in the
    currency itself: the stored hundredths, scaled by the currency's decimals. -#}
{% macro sap_amount(amount_column, alias) -%}
    (round({{ amount_column }} * 100)
        / cast(power(10, coalesce({{ alias }}.decimals, 2)) as {{ type_double() }}))
{%- endmacro %}


{#- A quantity or amount signed by its debit/credit indicator (SHKZG): H (credit, an issue)
    negative, S (debit, a receipt) positive, anything else as delivered. -#}
{% macro signed_by_shkzg(value, indicator) -%}
    case {{ indicator }}
        when 'H' then -abs({{ value }})
        when 'S' then abs({{ value }})
        else {{ value }}
    end
{%- endmacro %}
