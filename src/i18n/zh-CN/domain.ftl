# The domain's names: states, actions, roles, kinds (领域名称). Keys: <Type>-<code>.

## TicketState
TicketState-at_compound = 待小区处理
TicketState-compound_handling = 小区办理中
TicketState-at_community = 待社区受理
TicketState-community_handling = 社区办理中
TicketState-whistled = 部门办理中
TicketState-solved = 待回访
TicketState-closed = 已办结
TicketState-duplicate = 重复件
TicketState-declined = 不予受理

## Level
Level-compound = 小区
Level-community = 社区
Level-department = 职能部门

## ActionKind
ActionKind-accept_at_compound = 小区受理
ActionKind-report_to_community = 上报社区
ActionKind-mark_duplicate = 标记重复
ActionKind-decline = 不予受理
ActionKind-accept_at_community = 社区受理
ActionKind-whistle = 吹哨派单
ActionKind-add_department = 追加部门
ActionKind-remove_department = 撤回部门
ActionKind-acknowledge = 签收报到
ActionKind-return_case = 退单
ActionKind-request_extension = 申请延期
ActionKind-add_progress = 办理进展
ActionKind-complete_part = 协办完成
ActionKind-mark_solved = 办结
ActionKind-rule_on_return = 退单裁定
ActionKind-rule_on_extension = 延期审批
ActionKind-record_return_visit = 回访
ActionKind-pause_for_resident = 等待居民
ActionKind-resume_work = 恢复办理
ActionKind-release_part = 解除协办
ActionKind-escalate_to_community = 超时上报社区

## AssignmentState
AssignmentState-dispatched = 待签收
AssignmentState-acknowledged = 办理中
AssignmentState-returned = 已退单
AssignmentState-done = 协办完成
AssignmentState-removed = 已撤回

## ReturnReason
ReturnReason-not_our_territory = 不属于本辖区
ReturnReason-unclear_ownership = 权属不清
ReturnReason-overlapping_duties = 职责交叉
ReturnReason-outside_our_remit = 不属于本部门职责

## WhistleType
WhistleType-beyond_street_power = 超出街道职权
WhistleType-enforcement_needed = 需要执法
WhistleType-emergency = 应急处置

## Satisfaction
Satisfaction-satisfied = 满意
Satisfaction-basically_satisfied = 基本满意
Satisfaction-not_satisfied = 不满意

## Channel
Channel-visit = 入户走访
Channel-hotline = 热线
Channel-walk_in = 来访
Channel-online = 网上

## OrgKind
OrgKind-city = 市
OrgKind-district = 区县
OrgKind-street = 街道
OrgKind-community = 社区
OrgKind-compound = 小区
OrgKind-building = 楼栋
OrgKind-department = 职能部门

## Role
Role-grid_worker = 网格员
Role-branch_secretary = 小区党支部书记
Role-community_staff = 社区工作人员
Role-department_liaison = 部门联络员
Role-supervisor = 指挥中心督办
Role-admin = 系统管理员
Role-committee_representative = 业委会代表
Role-company_representative = 物业代表

## Stage
Stage-compound_triage = 小区分拨
Stage-community_acceptance = 社区受理
Stage-department_acknowledgement = 部门签收
Stage-resolution = 办理
Stage-return_visit = 回访
Stage-return_ruling = 退单裁定

## PartEnd
PartEnd-removed = 已撤回
PartEnd-released = 已解除协办
PartEnd-return_accepted = 退单成立

## YearStatus
YearStatus-published = 正式
YearStatus-provisional = 暂定

## Three-party consultation (三方协调议事)
Party-branch = 党支部
Party-owners_committee = 业主委员会
Party-property_company = 物业服务企业
ItemState-agenda = 待议
ItemState-action = 落实中
ItemState-done = 已完成
ItemState-dropped = 已撤销
Timeliness-running = 未到期
Timeliness-overdue = 已超期
Timeliness-on_time = 按时完成
Timeliness-late = 逾期完成
CandidateReason-recurring = 反复出现
CandidateReason-reopened = 有重办
CandidateReason-dissatisfied = 有不满意
Verdict-satisfactory = 合格
Verdict-rectify = 约谈整改
Verdict-replace = 建议解聘更换

# Requests from outside the grid (12345, Open311, a resident's link): decision 0032.
why-triage_compound = 待分拨小区须为该外部系统范围内的一个在用小区
why-client_scope = 外部系统的范围须为市、区、街道、社区或小区，不能是楼栋或职能部门
why-map_code_taken = 平台类别编码“{ $code }”重复
why-external_id = 外部工单号须为 1–64 位字母、数字或 -_.: 符号
why-link_needs_phone = 以短信发送查询链接需要手机号
why-link_needs_email = 以邮件发送查询链接需要电子邮件地址
why-no_category_map = 平台类别编码“{ $code }”尚未对应本系统的类别，请管理员先配置类别对应
rule-rfc3339 = 须为带时区的时间，格式如“{ $example }”
rule-number = 须为数字
why-order_finished = 该工单对应的诉求已{ $state }，不能再修改
why-link_who = 只有能办理该诉求的人员才能发送或撤销查询链接
why-rate_after_solved = 诉求办结后才能评价
why-already_rated = 已经评价过了，感谢您的反馈
why-open311_location = 须提供位置：经纬度或地址（{ $fields }）
why-open311_api_key = 缺少或无效的接入密钥（{ $field }）
why-open311_window = 起止日期的跨度不能超过 { $days } 天，且结束日期不能早于开始日期
why-open311_form = 请求体须为表单编码（{ $type }）的文本
open311-contact = 请联系所在社区或拨打 12345 市民服务热线
open311-key_service = 接入密钥由区、街道管理员在网格闭环中登记外部系统后发放
open311-attr_urgency = 紧急程度
open311-attr_building = 楼栋、单元（如 3号楼2单元），用于确定所在网格
open311-attr_building_form = 文字，如“3号楼”
entity-external_client = 外部系统
entity-work_order = 工单
entity-resident_link = 查询链接
ClientKind-hotline = 12345 热线平台
ClientKind-open311 = 开放 311 应用
Landing-unit = 平台指定单位
Landing-address = 按地址匹配
Landing-triage = 待分拨
PlatformStatus-accepted = 签收
PlatformStatus-rejected = 退单
PlatformStatus-extension_requested = 延期申请
PlatformStatus-solved = 办结
PlatformStatus-return_visit = 回访
resident-stage-at_compound = 已登记，等待小区处理
resident-stage-compound_handling = 小区正在办理
resident-stage-at_community = 已转交社区，等待社区受理
resident-stage-community_handling = 社区正在办理
resident-stage-whistled = 社区已协调相关部门办理
resident-stage-solved = 已办结，等待回访确认
resident-stage-closed = 已办结
resident-stage-duplicate = 已与同一诉求合并办理
resident-stage-declined = 经核实不予受理
resident-step-file = 诉求已登记
resident-step-external_update = 诉求内容已更新
resident-step-accept = 已受理
resident-step-report_to_community = 已转交社区
resident-step-whistle = 已协调相关部门
resident-step-acknowledge = 部门已签收
resident-step-pause_for_resident = 等待您补充情况
resident-step-resume_work = 继续办理
resident-step-mark_solved = 已办结
resident-step-record_return_visit = 已回访
resident-step-decline = 不予受理
resident-step-mark_duplicate = 与同一诉求合并办理
resident-step-resident_rating = 您已评价
Landing-location = 按坐标匹配
