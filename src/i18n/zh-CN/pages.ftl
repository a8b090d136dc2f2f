# The pages' words (网页文字). Keys: <page>-<thing>.
app-name = 网格闭环
nav-label = 主导航
nav-day = 今日走访
nav-mine = 我的诉求
nav-board = 工作台
nav-inbox = 待办
nav-search = 查询
nav-role = 当前角色
nav-switch = 切换
nav-logout = 退出
nav-other_language = English

login-title = 登录
login-login = 登录名或手机号
login-login_hint = 填写管理员分配的登录名，或 11 位手机号
login-password = 密码
login-submit = 登录

error-title = 出错了
error-back = 返回首页

page-form_expected = 请通过页面上的表单提交
page-form_too_big = 表单内容过多，请分几次提交
page-nul = 输入含有空字符（U+0000），无法保存，请删除后重新提交
page-too_many_files = 一次最多上传 { $max } 张照片，请分几次提交
page-bad_form = 表单内容不完整或有误：{ $detail }
page-bad_datetime = 请填写有效的日期和时间
page-board_compound_only = 工作台按小区查看，您当前的角色没有对应的小区

time-minutes = { $n } 分钟
time-hours = { $n } 小时
time-days = { $n } 天
time-due_in = { $span }后到期
time-overdue_by = 已超时 { $span }

urgency-normal = 一般
urgency-urgent = 紧急（急难愁盼）

field-note = 说明（可选）
field-note_required = 说明
field-reason = 理由
field-reason_optional = 理由（可选）
field-reason_code = 退单原因
field-duplicate_of = 与哪件诉求重复
field-lead_department = 主办部门
field-co_departments = 协办部门
field-whistle_type = 吹哨类型
field-department = 部门
field-department_own = 代表哪个部门
field-new_department = 改派部门（可选）
field-proposed_due_at = 申请延至
field-resolution = 办理结果
field-decision = 裁定
field-extension = 延期申请
field-satisfaction = 居民评价
field-category = 诉求类别
field-building = 楼栋
field-title = 标题
field-description = 诉求内容
field-urgency = 紧急程度
field-resident = 居民
field-anonymous = 匿名（不登记居民信息）
field-resident_name = 居民姓名
field-resident_phone = 联系电话
field-photos = 照片
field-resident_hint = 可从居民台账中选择，也可填写新居民

ruling-return-accept = 同意退单
ruling-return-overrule = 驳回，部门继续办理
ruling-extension-grant = 同意延期
ruling-extension-refuse = 不同意延期

ticket-title = 诉求详情
ticket-overdue = 已超时
ticket-place = 地点
ticket-resident = 居民
ticket-anonymous = 匿名
ticket-reveal = 查看完整号码
ticket-reveal_recorded = （本次查看已留痕）
ticket-filed_at = 登记时间
ticket-due = 当前时限
ticket-provisional = 暂定
ticket-provisional_hint = 该年度放假安排尚未公布，时限按标准规则暂算
ticket-resolution = 办理结果
ticket-clocks = 计时
ticket-yours = 由您办理
ticket-paused = 已暂停
ticket-departments = 报到部门
ticket-actions = 可办理的操作
ticket-no_actions = 您现在没有可办理的操作
ticket-confirm = 确认
ticket-duplicate_hint = 下面是近 30 天同类别、同地点的诉求。
ticket-duplicate_search = 按编号或关键词查找
ticket-no_candidates = 没有找到可能重复的诉求
ticket-timeline = 办理经过
ticket-comment = 留言
ticket-comment_submit = 发表留言
ticket-commented = 留言已发表
ticket-done = 已完成：{ $action }
ticket-stale = 在您提交之前，这件诉求已被他人办理；下面是最新情况，您填写的内容已保留。

event-system = 系统
event-file = 登记诉求
event-comment = 留言
event-sla_warning = 即将超时提醒
event-sla_breach = 超时
event-sla_reminder = 超时督办提醒
event-sla_pause_expired = 暂停到期，恢复计时

day-title = 今日走访
day-log_due = 日志截止
day-log_filed = 今日日志已提交
day-log_amend = 可继续补充走访户和诉求。
day-log_sent = 走访日志已提交
day-log_changed = 今日日志已在别处修改；下面是最新情况，您填写的内容已保留，请核对后再提交。
day-households = 应走访住户
day-no_households = 今天没有到期的住户
day-overdue = 逾期天数
day-households_visited = 走访户数
day-households_visited_hint = 不填则按勾选的住户计算
day-observations = 走访情况
day-requests = 收集的诉求
day-requests_hint = 没有诉求的栏目留空即可。
day-request = 诉求
day-submit = 提交今日日志
day-submit_amend = 补充今日日志
day-no_grid = 您没有负责的网格
day-offline = 当前没有网络：提交的日志会先保存在手机上，联网后自动发送。
day-drafts = 尚未发送的日志
day-drafts_hint = 保存在本机，联网后自动发送，不会重复登记。
day-send_drafts = 立即发送
day-draft_pending = 未发送
day-draft_sent = 已发送
day-photos_again = 选择的照片需要重新添加。
day-photos_hint = 可拍照或从相册选择，最多 { $max } 张；位置等拍摄信息会被去除

mine-title = 我的诉求
mine-return_visits = 待回访
mine-record = 提交回访结果
mine-open = 查看详情

board-title = 工作台
board-generated = 更新于
board-totals = 总览
board-open = 在办诉求
board-overdue = 超时
board-logs_missing = 未按时填写日志
board-by_state = 各环节在办
board-nearest = 最近到期
board-logs = 今日走访日志
board-logs_summary = { $workers } 名网格员中已提交 { $filed } 名
board-compliance = 近 30 天日志按时填报率
board-loop = 走访诉求闭环（近 30 天）

log-filed = 已按时提交
log-filed_late = 逾期提交
log-pending = 未提交
log-missing = 未按时填写

loop-visited = 已走访
loop-fed_back = 已反馈
loop-followed_up = 跟踪回访
loop-closed = 回访办结
loop-ended = 不予受理或重复

inbox-title = 待办
search-title = 查询诉求
search-q = 编号或关键词
search-q_hint = 例如 2026-000123 或 漏水
search-state = 环节
search-any_state = 全部
search-building = 楼栋
search-any_building = 全部楼栋
search-this_place = 当前查看的范围
search-overdue = 只看超时
search-submit = 查询

list-empty = 暂无
list-more = 下一页
log-not_expected = 今日无需填写

household-ordinary = 普通户
household-elderly_alone = 独居老人
household-party_member_household = 党员户
household-disabled = 残疾人家庭
household-low_income = 低保户

ticket-photos = 照片
ticket-photo = 选择照片
ticket-photo_kind = 照片类型
ticket-photo_request = 诉求照片
ticket-photo_solution = 办结照片
ticket-photo_add = 上传照片
ticket-photo_added = 照片已上传
ticket-photo_hint = JPEG、PNG 或 WebP，不超过 { $mb } MB；位置等拍摄信息会被去除
event-photo = 上传照片
