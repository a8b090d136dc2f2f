# 错误信息 (zh-CN): one entry per error code (error-<code>), the reasons used inside them
# (rule-*, why-*), holiday-schedule problems (schedule-*), and the names of objects (entity-*).

## Error codes
error-not_found = 未找到{ $what }
error-forbidden = 无权执行此操作：{ $detail }
error-unauthenticated = 请先登录（缺少有效的令牌或会话，或会话已过期）
error-login_failed = 登录失败：账号或密码错误，或账号暂不可用
error-too_many_attempts = 登录失败次数过多，请在 { $wait }后再试；忘记密码请联系管理员重置
wait-seconds = { $n } 秒
wait-minutes = { $n } 分钟
error-csrf_rejected = 请求缺少正确的 X-CSRF-Token 请求头（使用会话 Cookie 修改数据时必需）
error-bad_request = 请求格式有误：{ $detail }
error-payload_too_large = 请求体过大：最多 { $limit } 字节
error-validation_failed = 输入有误（{ $field }）：{ $detail }
error-unknown_reference = 引用的对象不存在（{ $field }）：{ $detail }
error-illegal_action = 当前状态（{ $state }）不允许执行“{ $action }”；{ $allowed ->
    [0] 您现在没有可执行的操作
   *[other] 您现在可执行：{ $list }
}
error-log_exists = 该网格 { $date } 的走访日志已提交（{ $log }），请修改已有日志，不要重复提交
error-log_locked = { $date } 的走访日志已在当日结束时锁定，不能再修改
error-import_rejected = 导入未执行：{ $rows } 行有误，请改正后重新导入整个文件（见 errors）
error-idempotency_key_reused = 该 Idempotency-Key 已用于另一个不同的请求，请为新请求生成新的键
error-precondition_required = 修改需要 If-Match 请求头，值为对象当前的版本号（见 ETag）
error-version_conflict = 数据已被他人修改：您提交的版本为 { $given }，当前版本为 { $current }，请刷新后重试
error-calendar_missing = 工作日历 { $calendar } 无法计算 { $year } 年的时限（仅支持 1902–2100 年）
error-schedule_invalid = { $year } 年的放假安排未保存：{ $count } 处有误，请改正后重新提交（见 problems）
error-service_unavailable = 数据库暂时不可用，请稍后重试
error-internal_error = 服务器内部错误，已记录，请稍后重试

## Objects
entity-org_unit = 组织单元
entity-person = 人员
entity-membership = 任职
entity-category = 诉求类别
entity-resident = 居民
entity-route = 该接口
entity-ticket = 诉求
entity-extension = 延期申请
entity-department = 部门
entity-visit_log = 走访日志
entity-household = 住户
entity-compound = 小区
entity-calendar = 工作日历
entity-calendar_year = 工作日历年份
entity-property_company = 物业服务企业
entity-meeting = 议事会
entity-consult_item = 议事事项
entity-object = 对象

## Holiday schedules (放假安排)
schedule-outside_year = { $date } 不在 { $year } 年内
schedule-listed_twice = { $date } 重复列出
schedule-holiday_and_workday = { $date } 同时列为放假日和调休上班日
schedule-workday_not_weekend = { $date } 不是周六或周日，不能作为调休上班日
schedule-lone_weekend_holiday = { $date } 是周末且不在任何放假区间内，本就休息，可能是日期写错了
schedule-no_holidays = 未列出任何放假日期
schedule-year_out_of_range = 年份 { $year } 超出范围：须在 1902 至 2100 年之间
schedule-not_a_date = “{ $date }”不是 YYYY-MM-DD 格式的日期

## Calendar warnings
calendar-year_provisional = 工作日历 { $calendar } 尚未录入 { $year } 年国务院放假调休安排：涉及该年的时限暂按常规规则（周一至周五，扣除法定节假日）计算并标记为“暂定”；请管理员录入正式安排，系统将自动重算。

## Conflicts and refusals of the moment
why-already_exists = 已存在相同的唯一值记录
why-illegal_part_state = “{ $action }”不适用于贵部门当前的办理环节
why-return_overruled = 社区已驳回本部门的退单，本部门须承办此件
why-extension_pending = 本部门已有一条延期申请在等待审批
why-lead_closes_by_solving = 主办部门通过“办结”结束此件，无需“协办完成”
why-lead_not_acknowledged = 主办部门须先签收报到，才能办结
why-co_departments_open = 仍有协办部门未完成其承办部分：须由其完成，或由社区解除协办
why-nothing_to_rule = 此件没有等待“{ $action }”的事项
why-no_co_department = 没有可撤回或解除的协办部门
why-nothing_to_pause = 没有正在计时的办理时限可暂停（是否已暂停？）
why-not_paused = 此件没有等待居民而暂停的时限

## Requests that could not be read
bad-unknown_field = 不认识的字段“{ $field }”
bad-missing_field = 缺少必填字段“{ $field }”
bad-unknown_value = 不认识的取值“{ $value }”
bad-wrong_type = { $whole }中有字段的值类型不对
bad-unreadable = 无法读取{ $whole }
bad-json_syntax = JSON 格式错误（第 { $line } 行第 { $column } 列）
bad-content_type = 请求体须为 JSON（Content-Type: application/json）
bad-path = 网址中的参数格式不对
bad-whole_body = 请求体
bad-whole_query = 查询参数
error-nul_character = 输入含有空字符（U+0000）：{ $field }；该字符无法保存，请删除后重新提交
error-nul_character_line = 导入文件第 { $line } 行含有空字符（U+0000），无法保存；请删除该字符后重新导入整个文件
error-method_not_allowed = 此路径不支持 { $method } 方法；支持的方法：{ $allowed }
error-contention = 数据库为解决与其他操作的冲突中止了本次修改，重试后仍未成功，请稍后重试
error-client_refused = 外部系统的接入密钥、签名或时间戳无效（时间戳须在五分钟之内），或该系统已停用
