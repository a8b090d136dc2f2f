# 排名与报表：统计期、单位和指标的提示。
rule-report_period_form = “{ $text }”不是统计期：请写月份（如 2026-10）、季度（如 { $quarter }）或年份（如 2026）
rule-report_period_or_range = 统计期只能用一种写法：要么写统计期，要么写起止日期
rule-report_range_both = 起止日期须同时给出（{ $from } 和 { $to }）
rule-report_range_too_long = 起止日期最多跨 { $days } 天
why-report_no_unit_in_scope = 您的管辖范围内没有这个单位，或您无权查看它的排名
rule-report_measure_needed = 请指明要查看的指标（{ $measures }）
# 台账导出的列名。
field-export_number = 编号
field-export_filed_at = 登记时间
field-export_category = 诉求类别
field-export_urgency = 紧急程度
field-export_title = 标题
field-export_state = 状态
field-export_due_at = 当前时限
field-export_overdue = 是否超时
field-export_reopens = 重办次数
field-export_yes = 是
field-export_no = 否
field-export_resident_name = 居民姓名
field-export_resident_phone = 联系电话
