# 走访日志台账、督办台账与走访工作排名（ledgers.ftl）。

## 走访日志台账
ledger-visit_sheet = 走访日志台账
ledger-visit_title = 走访日志台账 · { $unit } · { $filters } · 导出于 { $at }
ledger-visit_date = 走访日期
ledger-worker = 网格员
ledger-grid = 网格
ledger-compound = 小区
ledger-households_visited = 走访户数
ledger-households = 走访住户
ledger-observations = 走访情况
ledger-notes = 备注
ledger-requests = 收集诉求数
ledger-request_numbers = 诉求编号
ledger-return_visits = 回访数
ledger-filed_at = 提交时间
ledger-late = 是否迟报
ledger-updated_at = 最后修改时间
ledger-revealed = 个人信息明文

## 督办台账
ledger-supervision_sheet = 督办台账
ledger-supervision_title = 督办台账 · { $unit } · { $filters } · 导出于 { $at }
ledger-number = 工单编号
ledger-title = 标题
ledger-category = 诉求类别
ledger-urgency = 紧急程度
ledger-state = 工单状态
ledger-stage = 超时环节
ledger-holder = 责任单位
ledger-due_at = 办理时限
ledger-breached_at = 超时时间
ledger-overdue_hours = 超时小时数
ledger-reminders = 催办次数
ledger-status = 督办状态
ledger-status_open = 督办中
ledger-status_resolved = 已解除
ledger-status_all = 全部
ledger-resolved_at = 解除时间
ledger-resident_name = 居民姓名
ledger-resident_phone = 联系电话

## 走访工作排名（页面）
ledger-nav = 走访考核
ledger-page_title = 走访工作排名
ledger-community = 所属社区
ledger-log_compliance = 日志填报率
ledger-logs_on_time = 按时填报率
ledger-households_on_time = 按时走访率
ledger-totals = 合计
ledger-workers = 网格员填报情况
ledger-workers_hint = 网格员只列出填报情况，不排名。
ledger-expected_days = 应填天数
ledger-on_time_logs = 按时填报
ledger-late_logs = 迟报
ledger-missing_logs = 未填报
ledger-score_hint = 得分为日志填报率与按时走访率的平均值（无分母的一项不计）；得分相同名次并列。
ledger-rule_hint = 按时走访率：本期内到期应走访的住户中，每次都在到期日前走访到的住户所占比例（间隔按住户类型；从未走访的住户自登记日起算）。
ledger-empty = 该单位下没有小区。
ledger-no_workers = 没有网格员
ledger-exports = 导出台账
ledger-export_visit_logs = 走访日志台账（{ $format }）
ledger-export_supervision = 督办台账（{ $format }）
